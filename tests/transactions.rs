//! The partition side of transactions between real `weir` processes: the
//! test plays the transaction coordinator with raw requests over real
//! sockets (InitProducerId for producer ids, transactional Produce,
//! WriteTxnMarkers COMMIT/ABORT), and real rdkafka consumers read the
//! result:
//!
//! - a read_committed consumer sees each committed record exactly once and
//!   no aborted one, and stops at the first open transaction (the last
//!   stable offset); a read_uncommitted consumer sees every record;
//! - on a 3-node cluster the markers replicate: after kill -9 of the
//!   leader the new leader answers the same LSO and aborted transactions,
//!   and completes the open transaction when the coordinator retries;
//! - kill -9 of a single node with a transaction open: recovery rebuilds
//!   the open transaction and the aborted-transaction index, which
//!   `weir dump-log` prints with the markers.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::*;
use common::replication::*;
use common::NONE;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest,
    ListOffsetsResponse, ProduceRequest, ProduceResponse, ProducerId, TransactionalId, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use weir::record::batch::BatchIter;
use weir::record::records::{decode_records, BatchBuilder, Record};
use weir::tools::dump_log::{run, DumpLogArgs};

const READ_COMMITTED: i8 = 1;

/// A producer id and epoch from InitProducerId (the coordinator side hands
/// these out to transactional producers; an idempotent one is the same).
async fn producer_id(c: &Cluster, node: i32) -> (i64, i16) {
    let req = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    let resp: InitProducerIdResponse = poll_until("a producer id", WAIT, || async {
        let r: InitProducerIdResponse = c.request(node, ApiKey::InitProducerId, 4, &req).await?;
        if r.error_code == NONE {
            Ok(r)
        } else {
            Err(format!("InitProducerId error {}", r.error_code))
        }
    })
    .await;
    (resp.producer_id.0, resp.producer_epoch)
}

fn txn_batch(values: &[String], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut b = BatchBuilder::new(0, now).producer(pid, epoch, seq).transactional(true);
    for v in values {
        b.push(Record::new(Some(v.as_bytes().to_vec()), Some(v.as_bytes().to_vec()), now));
    }
    b.build()
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Transactional produce (acks=all) of one batch to partition 0; returns
/// its base offset.
async fn produce_txn(c: &Cluster, node: i32, topic: &str, records: Bytes) -> i64 {
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s("txn-test"))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))])]);
    let resp: ProduceResponse = c.request(node, ApiKey::Produce, 9, &req).await.expect("produce");
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NONE, "transactional produce: {:?}", p.error_message);
    p.base_offset
}

/// WriteTxnMarkers for partition 0, as the coordinator sends it; the error.
async fn write_marker(c: &Cluster, node: i32, topic: &str, pid: i64, epoch: i16, commit: bool) -> Result<i16, String> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(1)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(vec![0])])]);
    let resp: WriteTxnMarkersResponse = c.request(node, ApiKey::WriteTxnMarkers, 1, &req).await?;
    Ok(resp.markers[0].topics[0].partitions[0].error_code)
}

/// Writes a marker through whichever node leads, retrying as the
/// coordinator does (a leader change answers NOT_LEADER_OR_FOLLOWER).
async fn marker_written(c: &Cluster, via: &[i32], topic: &str, pid: i64, epoch: i16, commit: bool) {
    poll_until("the marker is written", WAIT, || async {
        for &node in via {
            if let Ok(NONE) = write_marker(c, node, topic, pid, epoch, commit).await {
                return Ok(());
            }
        }
        Err("no node wrote the marker".to_string())
    })
    .await
}

/// ListOffsets latest under read_committed (the last stable offset).
async fn last_stable_offset(c: &Cluster, node: i32, topic: &str) -> Result<i64, String> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(READ_COMMITTED)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = c.request(node, ApiKey::ListOffsets, 7, &req).await?;
    let p = &resp.topics[0].partitions[0];
    if p.error_code != NONE {
        return Err(format!("ListOffsets error {}", p.error_code));
    }
    Ok(p.offset)
}

/// A read_committed Fetch (v12) of partition 0 from 0: (last stable
/// offset, aborted transactions as (producer id, first offset), offsets of
/// the data records served).
async fn fetch_committed(c: &Cluster, node: i32, topic: &str) -> Result<(i64, Vec<(i64, i64)>, Vec<i64>), String> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(16 << 20)
        .with_isolation_level(READ_COMMITTED)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_fetch_offset(0).with_partition_max_bytes(16 << 20),
        ])]);
    let resp: FetchResponse = c.request(node, ApiKey::Fetch, 12, &req).await?;
    let p = &resp.responses[0].partitions[0];
    if p.error_code != NONE {
        return Err(format!("Fetch error {}", p.error_code));
    }
    let aborted =
        p.aborted_transactions.clone().unwrap_or_default().iter().map(|a| (a.producer_id.0, a.first_offset)).collect();
    let bytes = p.records.clone().unwrap_or_default();
    let mut offsets = Vec::new();
    for item in BatchIter::new(&bytes, true) {
        let (_, view) = item.map_err(|e| e.to_string())?;
        if !view.is_control() {
            offsets.extend(decode_records(&view).map_err(|e| e.to_string())?.iter().map(|r| r.offset));
        }
    }
    Ok((p.last_stable_offset, aborted, offsets))
}

/// Polls an rdkafka consumer until it has returned `want` records (then a
/// few more polls' worth of nothing is not waited for: the caller compares
/// what came against what must come, so an extra record fails later
/// checks or the next expected one).
fn consume_values(consumer: &BaseConsumer<StatsContext>, want: usize) -> Vec<String> {
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < want {
        assert!(start.elapsed() < WAIT * 2, "consumed {out:?}, want {want} records");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap()),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    out
}

/// The three transactions of every test: A commits, B aborts, C stays
/// open, interleaved as A B C A B. Returns (pid A, pid B, pid C, epoch, C's
/// first offset).
async fn three_transactions(c: &Cluster, leader: i32, topic: &str) -> (i64, i64, i64, i16, i64) {
    let (a, e) = producer_id(c, leader).await;
    let (b, eb) = producer_id(c, leader).await;
    let (p, ep) = producer_id(c, leader).await;
    assert_eq!((e, eb, ep), (0, 0, 0));
    assert_eq!(produce_txn(c, leader, topic, txn_batch(&values("a", 3), a, e, 0)).await, 0);
    assert_eq!(produce_txn(c, leader, topic, txn_batch(&values("b", 2), b, e, 0)).await, 3);
    assert_eq!(produce_txn(c, leader, topic, txn_batch(&values("c", 2), p, e, 0)).await, 5);
    assert_eq!(produce_txn(c, leader, topic, txn_batch(&values("A", 1), a, e, 3)).await, 7);
    assert_eq!(produce_txn(c, leader, topic, txn_batch(&values("B", 1), b, e, 2)).await, 8);
    assert_eq!(last_stable_offset(c, leader, topic).await.unwrap(), 0, "A is open at 0");
    marker_written(c, &[leader], topic, a, e, true).await; // 9
    assert_eq!(last_stable_offset(c, leader, topic).await.unwrap(), 3, "B is open at 3");
    marker_written(c, &[leader], topic, b, e, false).await; // 10
    assert_eq!(last_stable_offset(c, leader, topic).await.unwrap(), 5, "stuck at C");
    (a, b, p, e, 5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_consumers_see_committed_records_exactly_once() {
    let mut c = Cluster::builder().voters(1).start().await;
    let topic = "txn-consume";
    c.create_topic(1, topic, 1, 1, &[]).await;
    let (_, b, p, e, c_first) = three_transactions(&c, 1, topic).await;
    let (lso, aborted, offsets) = fetch_committed(&c, 1, topic).await.unwrap();
    assert_eq!(lso, c_first);
    assert_eq!(aborted, vec![(b, 3)]);
    assert_eq!(offsets, vec![0, 1, 2, 3, 4], "only below the LSO");

    let (committed, _) = assigned_consumer(&c, topic, &[("isolation.level", "read_committed")]);
    assert_eq!(consume_values(&committed, 3), values("a", 3), "A's first batch");
    marker_written(&c, &[1], topic, p, e, true).await; // 11: the LSO moves to the end
    assert_eq!(last_stable_offset(&c, 1, topic).await.unwrap(), 12);
    let rest = consume_values(&committed, 3);
    assert_eq!(rest, ["c0", "c1", "A0"], "C once committed, A's second batch, nothing of B");

    let (uncommitted, _) = assigned_consumer(&c, topic, &[("isolation.level", "read_uncommitted")]);
    let all = consume_values(&uncommitted, 9);
    assert_eq!(all, ["a0", "a1", "a2", "b0", "b1", "c0", "c1", "A0", "B0"]);
    drop((committed, uncommitted));
    c.terminate_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_has_the_same_lso_and_aborted_transactions() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .with("auto.leader.rebalance.enable", "false")
        .session(3000, 500)
        .start()
        .await;
    let brokers = c.broker_ids();
    let leader = brokers[0];
    let topic = "txn-failover";
    c.create_topic_assigned(leader, topic, &[&brokers], &[("min.insync.replicas", "2")]).await;
    wait_leader_isr(&c, &brokers, topic, leader, &brokers).await;
    let (_, b, p, e, c_first) = three_transactions(&c, leader, topic).await;
    // Markers are acks=all: every ISR member has them.
    let log = wait_replicas_equal(&c, &brokers, topic, 11).await;
    assert_eq!(log.batches.len(), 7, "five data batches and two markers on every replica");

    c.kill9(leader);
    let survivors: Vec<i32> = brokers.iter().copied().filter(|b| *b != leader).collect();
    let view = wait_partition(&c, &survivors, topic, 0, "a new leader", |v| {
        v.leader >= 0 && v.leader != leader && v.isr.len() == 2
    })
    .await;
    let next = view.leader;
    let (lso, aborted, offsets) = poll_until("the new leader answers read_committed", WAIT, || async {
        // Its high watermark must first reach the markers (the ISR fetches).
        let got = fetch_committed(&c, next, topic).await?;
        if got.0 == c_first {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    assert_eq!((lso, aborted, offsets), (c_first, vec![(b, 3)], vec![0, 1, 2, 3, 4]));
    assert_eq!(last_stable_offset(&c, next, topic).await.unwrap(), c_first);

    // The coordinator retries C's commit on the new leader.
    marker_written(&c, &survivors, topic, p, e, true).await;
    assert_eq!(last_stable_offset(&c, next, topic).await.unwrap(), 12);
    let (committed, _) =
        assigned_consumer(&c, topic, &[("isolation.level", "read_committed"), ("bootstrap.servers", &c.addr(next))]);
    assert_eq!(consume_values(&committed, 6), ["a0", "a1", "a2", "c0", "c1", "A0"]);
    drop(committed);

    c.restart(leader).await;
    wait_replicas_equal(&c, &brokers, topic, 12).await;
    c.terminate_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_a_transaction_open_recovers_it() {
    let mut c = Cluster::builder().voters(1).start().await;
    let topic = "txn-crash";
    c.create_topic(1, topic, 1, 1, &[]).await;
    let (_, b, p, e, c_first) = three_transactions(&c, 1, topic).await;
    c.kill9(1);
    c.restart(1).await;
    let (lso, aborted, _) = poll_until("the restarted broker serves read_committed", WAIT, || async {
        fetch_committed(&c, 1, topic).await
    })
    .await;
    assert_eq!(lso, c_first, "C is open again after recovery");
    assert_eq!(aborted, vec![(b, 3)], "B's abort is in the recovered index");
    // The entry sits in the .txnindex of the segment holding B's marker.
    let dir = c.node(1).data_dir().join(format!("{topic}-0"));
    let indexes: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txnindex"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(indexes.len(), 1, "one segment has an aborted transaction");
    let bytes = &indexes[0];
    assert_eq!(bytes.len(), 34, "one entry in Kafka's format");
    assert_eq!(i64::from_be_bytes(bytes[2..10].try_into().unwrap()), b, "producer id");
    assert_eq!(i64::from_be_bytes(bytes[10..18].try_into().unwrap()), 3, "first offset");
    assert_eq!(i64::from_be_bytes(bytes[18..26].try_into().unwrap()), 10, "the marker's offset");
    assert_eq!(i64::from_be_bytes(bytes[26..34].try_into().unwrap()), c_first, "the LSO after the abort");
    // C commits after the restart.
    marker_written(&c, &[1], topic, p, e, true).await;
    assert_eq!(last_stable_offset(&c, 1, topic).await.unwrap(), 12);

    // `weir dump-log` reads the markers and the index back readably.
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log" || x == "txnindex"))
        .collect();
    files.sort();
    let mut args = DumpLogArgs::new(files);
    args.deep_iteration = true;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run(&args, &mut out, &mut err).expect("dump-log writes");
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches(" endTxnMarker: COMMIT coordinatorEpoch: 1").count(), 2, "{out}");
    assert_eq!(out.matches(" endTxnMarker: ABORT coordinatorEpoch: 1").count(), 1, "{out}");
    assert!(
        out.contains(&format!("version: 0 producerId: {b} firstOffset: 3 lastOffset: 10 lastStableOffset: {c_first}")),
        "{out}"
    );
    c.terminate_all().await;
}
