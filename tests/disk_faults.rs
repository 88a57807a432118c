//! Disk faults on real broker processes. A log directory on a small tmpfs
//! (made and removed by the test; skipped with a message where mounting is
//! not permitted) fills up: the write that fails takes the directory
//! offline, as Kafka's `LogDirFailureChannel` does. Partitions in it answer
//! KAFKA_STORAGE_ERROR to produce and fetch and are listed as offline
//! replicas in Metadata, partitions in the broker's other directory keep
//! working, nothing acknowledged is lost, and the directory comes back only
//! with a restart (then the partition serves every acknowledged record at
//! its offset and takes writes again). With replication factor 3 the
//! controller moves leadership off the failed replica, an acks=all
//! producer carries on, and every acknowledged record is read back; the
//! restarted broker rejoins the ISR.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use weir::record::batch::BatchIter;
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::wire::client::BrokerClient;

use common::{BrokerProcess, Tmpfs};

const TIMEOUT: Duration = Duration::from_secs(30);
const RECORD: usize = 64 * 1024;
const STORAGE_ERROR: i16 = 56;

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

async fn produce(c: &mut BrokerClient, topic: &str, i: usize) -> (i16, i64) {
    let mut b = BatchBuilder::new(0, now_ms());
    b.push(Record::new(None, Some(value(i)), now_ms()));
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(tn(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(b.build()))]),
    ]);
    let resp: ProduceResponse = tokio::time::timeout(TIMEOUT, c.send(ApiKey::Produce, 9, &req))
        .await
        .expect("produce answered in time")
        .expect("produce answered, connection open");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn fetch(c: &mut BrokerClient, topic: &str, offset: i64) -> (i16, i64, Vec<(i64, Vec<u8>)>) {
    let req =
        FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_wait_ms(0).with_max_bytes(16 << 20).with_topics(
            vec![FetchTopic::default().with_topic(tn(topic)).with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(4 << 20)])],
        );
    let resp: FetchResponse = c.send(ApiKey::Fetch, 12, &req).await.expect("fetch");
    let p = &resp.responses[0].partitions[0];
    let mut out = Vec::new();
    let records = p.records.clone().unwrap_or_default();
    for item in BatchIter::new(&records, true) {
        let Ok((_, view)) = item else { break };
        for r in decode_records(&view).expect("stored records decode") {
            out.push((r.offset, r.value.unwrap_or_default()));
        }
    }
    (p.error_code, p.high_watermark, out)
}

/// Every record of the partition from offset 0, by fetching.
async fn read_all(c: &mut BrokerClient, topic: &str) -> Vec<(i64, Vec<u8>)> {
    let mut out: Vec<(i64, Vec<u8>)> = Vec::new();
    loop {
        let (code, hw, records) = fetch(c, topic, out.len() as i64).await;
        assert_eq!(code, 0, "fetch error on {topic}");
        let before = out.len();
        out.extend(records.into_iter().filter(|(o, _)| *o >= before as i64));
        if out.len() == before || out.len() as i64 >= hw {
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

/// (error, leader, offline replicas) of partition 0 of `topic` in Metadata.
async fn partition_state(c: &mut BrokerClient, topic: &str) -> (i16, i32, Vec<i32>) {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(tn(topic)))]))
        .with_allow_auto_topic_creation(false);
    let resp: MetadataResponse = c.send(ApiKey::Metadata, 12, &req).await.expect("metadata");
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.leader_id.0, p.offline_replicas.iter().map(|b| b.0).collect())
}

/// Produces `value(i)` to `topic` until it is acknowledged (after a restart
/// the partition needs a moment for its leader); returns the offset.
async fn produce_acked(c: &mut BrokerClient, topic: &str, i: usize) -> i64 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (code, offset) = produce(c, topic, i).await;
        if code == 0 {
            return offset;
        }
        assert!(Instant::now() < deadline, "no write to {topic} accepted: error {code}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_log(got: &[(i64, Vec<u8>)], acked: &[(i64, usize)], what: &str) {
    assert_eq!(got.len(), acked.len(), "{what}: served records = acknowledged records");
    for ((o, v), (ao, i)) in got.iter().zip(acked) {
        assert!(o == ao && *v == value(*i), "{what}: record at offset {ao} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_log_dir_goes_offline_while_the_other_keeps_serving() {
    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&root.path().join("small"), 24) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); disk-fault test not run");
        return;
    };
    let (small, big, meta) = (fs.0.clone(), root.path().join("big"), root.path().join("meta"));
    let log_dirs = format!("{},{}", small.display(), big.display());
    let overrides = [
        ("metadata.log.dir", meta.to_str().unwrap()),
        ("log.dirs", log_dirs.as_str()),
        ("log.segment.bytes", "4194304"),
    ];
    let mut broker = BrokerProcess::spawn(&meta, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    // Placement: each new partition goes to the directory with the fewest.
    common::create_topic_raw(&mut c, "full", &[]).await;
    common::create_topic_raw(&mut c, "healthy", &[]).await;
    common::wait_until("both logs created", TIMEOUT, || {
        let (a, b) = (small.join("full-0"), big.join("healthy-0"));
        async move { a.is_dir() && b.is_dir() }
    })
    .await;
    let mut acked_h: Vec<(i64, usize)> = Vec::new();
    for i in 0..3 {
        acked_h.push((produce_acked(&mut c, "healthy", i).await, i));
    }

    // Leave a few MiB free on the small directory, then produce until the
    // disk refuses.
    let filler = fs.fill("filler", 3 << 20);
    let mut acked: Vec<(i64, usize)> = Vec::new();
    let mut refused = 0;
    for i in 0..200 {
        let (code, offset) = produce(&mut c, "full", i).await;
        if code == 0 {
            assert_eq!(refused, 0, "a write was acknowledged after the directory failed");
            assert_eq!(offset, acked.len() as i64, "offsets stay dense");
            acked.push((offset, i));
        } else {
            assert_eq!(code, STORAGE_ERROR, "a failed directory answers KAFKA_STORAGE_ERROR");
            refused += 1;
            if refused >= 3 {
                break;
            }
        }
    }
    assert!(refused >= 3, "the disk never filled ({} records acknowledged)", acked.len());
    assert!(!acked.is_empty());
    healthy(&mut c).await;
    eprintln!("{} records acknowledged on the small directory before it filled", acked.len());

    // The failed directory's partition answers KAFKA_STORAGE_ERROR to
    // fetches too, and Metadata lists its replica offline.
    assert_eq!(fetch(&mut c, "full", 0).await.0, STORAGE_ERROR, "fetch from a failed directory");
    let deadline = Instant::now() + TIMEOUT;
    while partition_state(&mut c, "full").await.2 != vec![1] {
        assert!(Instant::now() < deadline, "Metadata never listed the replica in the failed directory as offline");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (error, leader, _) = partition_state(&mut c, "full").await;
    assert_eq!((error, leader), (ResponseError::LeaderNotAvailable.code(), -1), "no replica may lead it now");
    assert_eq!(partition_state(&mut c, "healthy").await, (0, 1, vec![]));

    // The other directory keeps working: writes and reads.
    for i in 3..8 {
        let offset = produce_acked(&mut c, "healthy", i).await;
        assert_eq!(offset, acked_h.len() as i64);
        acked_h.push((offset, i));
    }
    assert_log(&read_all(&mut c, "healthy").await, &acked_h, "healthy while the other directory failed");

    // The broker log names the directory and the cause.
    let said = broker.lines_containing("failed and is now offline");
    assert!(
        said.iter().any(|l| l.contains(&small.display().to_string()) && l.contains("No space left on device")),
        "the broker log names the failed directory and why: {said:?}"
    );

    // Space again: as in Kafka, the directory stays offline until restart.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(produce(&mut c, "full", 1_000).await.0, STORAGE_ERROR, "offline until the broker restarts");

    // kill -9 and restart: recovery finds exactly the acknowledged records,
    // and the partition takes writes again.
    broker.kill9();
    let broker = BrokerProcess::spawn(&meta, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    let next = produce_acked(&mut c, "full", 1_001).await;
    assert_eq!(next, acked.len() as i64, "after restart the log continues at the acknowledged end");
    acked.push((next, 1_001));
    assert_log(&read_all(&mut c, "full").await, &acked, "the recovered directory");
    assert_log(&read_all(&mut c, "healthy").await, &acked_h, "the healthy directory after restart");
    assert_eq!(partition_state(&mut c, "full").await, (0, 1, vec![]), "back online after restart");
}

/// EIO: a log directory on an ext4 file system whose device starts
/// failing (a loop device shrunk under it; `common::LoopDisk`). The topic
/// there fsyncs every record (`flush.messages=1`), so the next produce
/// meets the error in its fsync and is not acknowledged; the directory goes
/// offline, the other keeps serving, and after the disk is replaced with
/// what it held and the broker restarts, every acknowledged record is
/// there and the partition takes writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eio_disk_goes_offline_and_the_replaced_disk_recovers() {
    let root = tempfile::tempdir().unwrap();
    let Some(disk) = common::LoopDisk::mount(&root.path().join("eio"), &root.path().join("image"), 256) else {
        eprintln!("SKIPPED: cannot mount an ext4 loop device here (needs root, losetup, mkfs.ext4); EIO test not run");
        return;
    };
    let (failing, big, meta) = (disk.mount_point.clone(), root.path().join("big"), root.path().join("meta"));
    let log_dirs = format!("{},{}", failing.display(), big.display());
    let overrides = [("metadata.log.dir", meta.to_str().unwrap()), ("log.dirs", log_dirs.as_str())];
    let mut broker = BrokerProcess::spawn(&meta, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    common::create_topic_raw(&mut c, "eio", &[("flush.messages", "1")]).await;
    common::create_topic_raw(&mut c, "healthy", &[]).await;
    assert!(failing.join("eio-0").is_dir() && big.join("healthy-0").is_dir(), "placed one per directory");
    let mut acked: Vec<(i64, usize)> = Vec::new();
    let mut acked_h: Vec<(i64, usize)> = Vec::new();
    for i in 0..5 {
        acked.push((produce_acked(&mut c, "eio", i).await, i));
        acked_h.push((produce_acked(&mut c, "healthy", i).await, i));
    }

    disk.fail();
    for i in 5..8 {
        let (code, _) = produce(&mut c, "eio", i).await;
        assert_eq!(code, STORAGE_ERROR, "a write to a failing disk is not acknowledged");
    }
    assert_eq!(fetch(&mut c, "eio", 0).await.0, STORAGE_ERROR, "fetch from a failed directory");
    let said = broker.lines_containing("failed and is now offline");
    assert!(
        said.iter().any(|l| l.contains(&failing.display().to_string()) && l.contains("Input/output error")),
        "the broker log names the failed directory and the EIO: {said:?}"
    );
    for i in 5..8 {
        let offset = produce_acked(&mut c, "healthy", i).await;
        acked_h.push((offset, i));
    }
    assert_log(&read_all(&mut c, "healthy").await, &acked_h, "healthy while the other directory failed");

    // The disk is replaced by one holding what it held; after a restart the
    // partition is recovered with every acknowledged record.
    broker.kill9();
    disk.replace();
    let broker = BrokerProcess::spawn(&meta, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    let next = produce_acked(&mut c, "eio", 100).await;
    // Records whose fsync failed were never acknowledged; recovery may keep
    // or drop them (they reached the page cache of the dead device), but
    // every acknowledged one is at its offset.
    let got = read_all(&mut c, "eio").await;
    assert!(got.len() as i64 == next + 1, "the log is dense up to the new record");
    assert_log(&got[..acked.len()], &acked, "the replaced disk after restart");
    assert_log(&read_all(&mut c, "healthy").await, &acked_h, "the healthy directory after restart");
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

/// Three nodes, replication factor 3, `min.insync.replicas=2`: node 1 leads
/// the partition from a log directory on a small tmpfs (its other directory
/// and its metadata log are on the normal disk). The tmpfs fills while an
/// idempotent acks=all producer writes: node 1 takes the directory offline,
/// tells the controller, and leadership moves to an in-sync replica; the
/// producer carries on there and every acknowledged record is read back
/// at the offset it was acknowledged with. Restarted with space again,
/// node 1 recovers the partition and rejoins the ISR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_failed_log_dir_moves_leadership_and_loses_nothing_acknowledged() {
    use common::cluster::{partition_views, Cluster};
    use common::replication::{
        consumer_read_all, delivered, high_watermark, producer, send, seq_of, value as rvalue, wait_partition,
    };

    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&root.path().join("small"), 32) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); disk-fault test not run");
        return;
    };
    let small = fs.0.clone();
    let big = root.path().join("big");
    let mut c = Cluster::builder()
        .voters(3)
        .log_dir(1, &small)
        .node_with(1, "log.dirs", &format!("{},{}", small.display(), big.display()))
        .start()
        .await;
    c.create_topic_assigned(1, "rf3", &[&[1, 2, 3]], &[("min.insync.replicas", "2"), ("segment.bytes", "4194304")])
        .await;
    wait_partition(&c, &[1, 2, 3], "rf3", 0, "led by 1 with a full ISR", |p| p.leader == 1 && p.isr.len() == 3).await;
    assert!(small.join("rf3-0").is_dir(), "node 1 placed the partition in its first (small) directory");

    const LEN: usize = 16 << 10;
    let p = producer(&c, &[("acks", "all"), ("enable.idempotence", "true")]);
    let mut acked: Vec<(usize, i64)> = Vec::new();
    let mut failed = 0;
    let mut seq = 0;
    let mut filler = None;
    let mut moved_at: Option<(usize, Instant)> = None;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    // The longest a batch of 10 waited for its acknowledgements: what the
    // fault cost the producer.
    let mut worst = Duration::ZERO;
    loop {
        let sent = Instant::now();
        let mut batch = Vec::new();
        for _ in 0..10 {
            batch.push((seq, send(&p, "rf3", seq, LEN).await));
            seq += 1;
        }
        for (s, f) in batch {
            match delivered(f).await {
                Ok(offset) => acked.push((s, offset)),
                Err(code) => {
                    eprintln!("record {s} not acknowledged: {code:?}");
                    failed += 1;
                }
            }
        }
        worst = worst.max(sent.elapsed());
        if filler.is_none() && acked.len() >= 20 {
            // Leave 2 MiB: the leader's directory fills within ~100 records.
            filler = Some(fs.fill("filler", 2 << 20));
        }
        if filler.is_some() && moved_at.is_none() {
            let m = c.metadata(2, Some(&["rf3"])).await;
            if let Ok(p) = m.as_ref().map_err(|e| e.clone()).and_then(|m| partition_views(m, "rf3")) {
                if p[0].leader > 0 && p[0].leader != 1 {
                    eprintln!("leadership moved to {} after {} acknowledged records", p[0].leader, acked.len());
                    moved_at = Some((acked.len(), Instant::now()));
                }
            }
        }
        if let Some((n, _)) = moved_at {
            if acked.len() >= n + 50 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "leadership never moved off the failed directory ({} acknowledged, moved: {moved_at:?})",
            acked.len()
        );
    }
    let (moved_after, _) = moved_at.unwrap();
    let view = wait_partition(&c, &[2, 3], "rf3", 0, "node 1's replica offline, out of the ISR", |p| {
        p.leader > 1 && p.offline == vec![1] && !p.isr.contains(&1) && p.isr.len() == 2
    })
    .await;
    eprintln!(
        "{} records acknowledged ({} after the move to node {}), {failed} not acknowledged, in {:?}; \
         longest wait for a batch's acknowledgements: {worst:?}",
        acked.len(),
        acked.len() - moved_after,
        view.leader,
        started.elapsed()
    );
    assert!(c.node(1).output().contains("failed and is now offline"), "node 1's log says its directory failed");

    // Every acknowledged record, at its offset, from the new leader.
    let end = high_watermark(&c, view.leader, "rf3").await.expect("high watermark");
    let stored = consumer_read_all(&c, view.leader, "rf3", end).await.expect("read back");
    let by_offset: std::collections::HashMap<i64, (usize, Vec<u8>)> =
        stored.into_iter().map(|(o, k, v)| (o, (seq_of(&k), v))).collect();
    for (s, offset) in &acked {
        let got = by_offset.get(offset).unwrap_or_else(|| panic!("acknowledged record {s} at {offset} is missing"));
        assert!(got.0 == *s && got.1 == rvalue(*s, LEN), "offset {offset} holds record {} instead of {s}", got.0);
    }

    // Space again and a restart: node 1 recovers the partition and
    // rejoins the ISR.
    std::fs::remove_file(filler.unwrap()).unwrap();
    c.kill9(1);
    c.restart(1).await;
    wait_partition(&c, &[1, 2, 3], "rf3", 0, "node 1 back in the ISR", |p| {
        p.isr.len() == 3 && p.offline.is_empty() && p.leader > 0
    })
    .await;
}

/// A metadata log whose companion `quorum-state` file is unreadable stops
/// the node with an error naming the file, what is wrong and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_metadata_log_stops_the_node_in_plain_words() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut broker = BrokerProcess::spawn(&data, &[]);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    common::create_topic_raw(&mut c, "t", &[]).await;
    broker.terminate();
    let state = data.join("__cluster_metadata-0").join("quorum-state");
    std::fs::write(&state, b"{\"vote\": garbage").unwrap();
    let stderr = run_to_exit(&data).await;
    assert!(
        stderr.contains("the metadata log is damaged and cannot be read") && stderr.contains("quorum-state"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("restore the directory from a backup"), "says what to do: {stderr}");
}

/// The metadata log's directory fills up while the node runs: the node
/// stops (as Kafka halts a broker whose metadata log directory failed),
/// saying which directory and why, instead of answering every later
/// request with the Raft engine's storage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_metadata_log_dir_stops_the_node_in_plain_words() {
    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&root.path().join("meta"), 16) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); disk-fault test not run");
        return;
    };
    let meta = fs.0.clone();
    let data = root.path().join("data");
    let overrides = [("metadata.log.dir", meta.to_str().unwrap()), ("log.dirs", data.to_str().unwrap())];
    let mut broker = BrokerProcess::spawn(&data, &overrides);
    let mut c = BrokerClient::connect(&broker.bootstrap(), "disk-faults").await.unwrap();
    common::create_topic_raw(&mut c, "before", &[]).await;
    fs.fill("filler", 0);
    // Each creation is a metadata log append; the first one that does not
    // fit stops the node (its answer, if any, does not matter).
    for i in 0..20 {
        let req = kafka_protocol::messages::CreateTopicsRequest::default().with_timeout_ms(2_000).with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(tn(&format!("t{i}-{}", "x".repeat(200))))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            c.send::<_, kafka_protocol::messages::CreateTopicsResponse>(ApiKey::CreateTopics, 7, &req),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            break;
        }
    }
    let status = tokio::task::block_in_place(|| broker.wait_exit(TIMEOUT)).expect("the node stopped");
    assert!(!status.success());
    let said = broker.lines_containing("cannot be written");
    assert!(
        said.iter().any(|l| l.contains(&meta.display().to_string()) && l.contains("No space left on device")),
        "the node says its metadata log cannot be written, where and why: {said:?}"
    );
}

/// Starts `weir serve` on `data` and returns its stderr once it exits by
/// itself (panics if it keeps running).
async fn run_to_exit(data: &Path) -> String {
    let data = data.to_path_buf();
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
    String::from_utf8_lossy(&out.stderr).into_owned()
}
