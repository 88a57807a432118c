//! Round trips for the partition side of transactions on a single node,
//! driven with raw requests as the transaction coordinator and a
//! transactional producer send them: transactional produce, WriteTxnMarkers
//! (COMMIT and ABORT), Fetch and ListOffsets under read_committed (the last
//! stable offset, the aborted transactions), and the errors Kafka answers
//! for stale coordinator or producer epochs and forged control batches.

use kafka_protocol::messages::describe_producers_request::TopicRequest as DescribeProducersTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId, TransactionalId, WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
};

use super::*;

const READ_COMMITTED: i8 = 1;

pub(crate) fn txn_batch(values: &[&str], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let ts = now_ms();
    let mut b = BatchBuilder::new(0, ts).producer(pid, epoch, seq).transactional(true);
    for v in values {
        b.push(Record::new(None, Some(v.as_bytes().to_vec()), ts));
    }
    b.build()
}

/// A transactional producer's produce (v9, acks=all, transactional id set).
pub(crate) async fn produce_txn(c: &mut BrokerClient, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let req = produce_request(-1, topic, partition, records).with_transactional_id(Some(TransactionalId(s("rt-txn"))));
    let resp: ProduceResponse = c.send(ApiKey::Produce, 9, &req).await.expect("produce");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Sends one marker for `partitions` of `topic`; returns (partition, error).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_marker(
    c: &mut BrokerClient,
    v: i16,
    pid: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i16)> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(tn(topic))
            .with_partition_indexes(partitions.to_vec())])]);
    let resp: WriteTxnMarkersResponse =
        c.send(ApiKey::WriteTxnMarkers, v, &req).await.unwrap_or_else(|e| panic!("WriteTxnMarkers v{v}: {e}"));
    assert_eq!(resp.markers.len(), 1, "v{v}");
    assert_eq!(resp.markers[0].producer_id.0, pid, "v{v}");
    assert_eq!(resp.markers[0].topics.len(), 1, "v{v}");
    assert_eq!(resp.markers[0].topics[0].name, tn(topic), "v{v}");
    resp.markers[0].topics[0].partitions.iter().map(|p| (p.partition_index, p.error_code)).collect()
}

/// A read_committed fetch of partition 0 from `offset`.
async fn fetch_committed(c: &mut BrokerClient, v: i16, topic: &str, id: Uuid, offset: i64) -> PartitionData {
    let mut req = fetch_request(v, topic, id, 0, offset, 0);
    req.isolation_level = READ_COMMITTED;
    let resp: FetchResponse = c.send(ApiKey::Fetch, v, &req).await.unwrap_or_else(|e| panic!("Fetch v{v}: {e}"));
    resp.responses[0].partitions[0].clone()
}

async fn list_committed_latest(c: &mut BrokerClient, v: i16, topic: &str) -> i64 {
    let mut req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(READ_COMMITTED)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(LATEST)])]);
    if v >= 10 {
        req.timeout_ms = 10_000;
    }
    let resp: ListOffsetsResponse = c.send(ApiKey::ListOffsets, v, &req).await.expect("list offsets");
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE, "ListOffsets v{v}");
    p.offset
}

/// The data records fetched (control batches left out): (offset, value).
fn data_records(p: &PartitionData) -> Vec<(i64, String)> {
    let bytes = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    for item in BatchIter::new(&bytes, true) {
        let (_, view) = item.expect("fetched batch is valid");
        if !view.is_control() {
            out.extend(decode_records(&view).expect("records decode").iter().map(|r| (r.offset, value_of(r))));
        }
    }
    out
}

fn aborted_of(p: &PartitionData) -> Vec<(i64, i64)> {
    p.aborted_transactions.clone().unwrap_or_default().iter().map(|a| (a.producer_id.0, a.first_offset)).collect()
}

pub(crate) async fn round_trip_write_txn_markers(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-write-txn-markers-{v}");
        let id = create_topic(&mut c, &topic, 2, &[]).await;
        let (pid, epoch) = init_producer_id(&mut c, 4).await;
        assert_eq!(produce_txn(&mut c, &topic, 0, txn_batch(&["a", "b"], pid, epoch, 0)).await, (NONE, 0));
        assert_eq!(produce_txn(&mut c, &topic, 1, txn_batch(&["c"], pid, epoch, 0)).await, (NONE, 0));
        // Open: a read_committed consumer sees nothing yet.
        let p = fetch_committed(&mut c, 12, &topic, id, 0).await;
        assert_eq!((p.high_watermark, p.last_stable_offset), (2, 0), "v{v}: the LSO is stuck at the open transaction");
        assert!(fetched_records(&p).is_empty());
        // COMMIT on both partitions, and an unknown partition refused.
        let got = write_marker(&mut c, v, pid, epoch, true, 0, &topic, &[0, 1, 9]).await;
        assert_eq!(got, vec![(0, NONE), (1, NONE), (9, E::UnknownTopicOrPartition.code())], "v{v}");
        let p = fetch_committed(&mut c, 12, &topic, id, 0).await;
        assert_eq!((p.high_watermark, p.last_stable_offset), (3, 3), "v{v}: the marker is replicated");
        let values: Vec<String> = data_records(&p).into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["a", "b"], "v{v}");
        assert_eq!(aborted_of(&p), vec![], "v{v}");
    }
}

#[tokio::test]
pub(crate) async fn read_committed_stops_at_the_lso_and_reports_aborted_transactions() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-txn-read-committed";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let (p1, e1) = init_producer_id(&mut c, 4).await;
    let (p2, e2) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_txn(&mut c, topic, 0, txn_batch(&["a1", "a2"], p1, e1, 0)).await, (NONE, 0));
    assert_eq!(produce_txn(&mut c, topic, 0, txn_batch(&["b1"], p2, e2, 0)).await, (NONE, 2));
    assert_eq!(write_marker(&mut c, 1, p1, e1, false, 3, topic, &[0]).await, vec![(0, NONE)]);
    // p1 aborted at 3; p2 still open at 2: the LSO stays at 2.
    for v in advertised(ApiKey::ListOffsets).filter(|v| *v >= 2) {
        assert_eq!(list_committed_latest(&mut c, v, topic).await, 2, "ListOffsets v{v} read_committed");
    }
    assert_eq!(latest_offset(&mut c, topic).await, 4, "read_uncommitted sees the high watermark");
    for v in advertised(ApiKey::Fetch) {
        let p = fetch_committed(&mut c, v, topic, id, 0).await;
        assert_eq!(p.error_code, NONE, "Fetch v{v}");
        assert_eq!((p.high_watermark, p.last_stable_offset), (4, 2), "Fetch v{v}");
        let offsets: Vec<i64> = fetched_records(&p).iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1], "Fetch v{v}: only below the LSO");
        assert_eq!(aborted_of(&p), vec![(p1, 0)], "Fetch v{v}: p1's aborted transaction");
    }
    assert_eq!(write_marker(&mut c, 1, p2, e2, true, 3, topic, &[0]).await, vec![(0, NONE)]);
    for v in advertised(ApiKey::Fetch) {
        let p = fetch_committed(&mut c, v, topic, id, 0).await;
        assert_eq!((p.high_watermark, p.last_stable_offset), (5, 5), "Fetch v{v}");
        let data = data_records(&p);
        assert_eq!(data.len(), 3, "Fetch v{v}: every data record is served, the client drops the aborted");
        assert_eq!(aborted_of(&p), vec![(p1, 0)], "Fetch v{v}");
        // From after the abort marker nothing aborted is left in range.
        let p = fetch_committed(&mut c, v, topic, id, 4).await;
        assert_eq!(aborted_of(&p), vec![], "Fetch v{v} from 4");
        // read_uncommitted gets no aborted list at all.
        let p = fetch(&mut c, v, topic, id, 0).await;
        assert_eq!(p.aborted_transactions, None, "Fetch v{v} read_uncommitted");
    }
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn txn_bad_input_gets_kafkas_errors_and_writes_nothing() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-txn-bad-input";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_txn(&mut c, topic, 0, txn_batch(&["a"], pid, epoch + 1, 0)).await, (NONE, 0));
    assert_eq!(write_marker(&mut c, 1, pid, epoch + 1, true, 5, topic, &[0]).await, vec![(0, NONE)]);
    let end = latest_offset(&mut c, topic).await;
    // A zombie coordinator (older coordinator epoch).
    let got = write_marker(&mut c, 1, pid, epoch + 1, false, 4, topic, &[0]).await;
    assert_eq!(got, vec![(0, E::TransactionCoordinatorFenced.code())]);
    // A marker for an older producer epoch.
    let got = write_marker(&mut c, 1, pid, epoch, false, 5, topic, &[0]).await;
    assert_eq!(got, vec![(0, E::InvalidProducerEpoch.code())]);
    // A transactional batch at an older producer epoch.
    let (code, _) = produce_txn(&mut c, topic, 0, txn_batch(&["x"], pid, epoch, 0)).await;
    assert_eq!(code, E::InvalidProducerEpoch.code());
    // A client's control batch.
    let mut forged = BatchBuilder::new(0, now_ms()).producer(pid, epoch + 1, -1).transactional(true).control(true);
    forged.push(Record::new(Some(vec![0, 0, 0, 1]), Some(vec![0, 0, 0, 0, 0, 9]), now_ms()));
    let (code, _) = produce_txn(&mut c, topic, 0, forged.build()).await;
    assert_eq!(code, E::InvalidRecord.code());
    // Transactional records without a transactional id.
    let p = produce(&mut c, 9, -1, topic, 0, txn_batch(&["y"], pid, epoch + 1, 1)).await;
    assert_eq!(p.error_code, E::TransactionalIdAuthorizationFailed.code());
    assert_eq!(latest_offset(&mut c, topic).await, end, "nothing was written");
    // Inside an open transaction a non-transactional batch is refused.
    assert_eq!(produce_txn(&mut c, topic, 0, txn_batch(&["b"], pid, epoch + 1, 1)).await, (NONE, end));
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["c"], pid, epoch + 1, 2)).await;
    assert_eq!(p.error_code, E::InvalidTxnState.code());
    env.stop().await;
}

/// DescribeProducers of `partitions`: per partition (index, error, active
/// producers as (id, epoch, last sequence, coordinator epoch, open
/// transaction's first offset)).
async fn describe_producers(
    c: &mut BrokerClient,
    v: i16,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i16, Vec<(i64, i32, i32, i32, i64)>)> {
    let req = DescribeProducersRequest::default().with_topics(vec![DescribeProducersTopic::default()
        .with_name(tn(topic))
        .with_partition_indexes(partitions.to_vec())]);
    let resp: DescribeProducersResponse =
        c.send(ApiKey::DescribeProducers, v, &req).await.unwrap_or_else(|e| panic!("DescribeProducers v{v}: {e}"));
    assert_eq!(resp.topics.len(), 1, "v{v}");
    assert_eq!(resp.topics[0].name, tn(topic), "v{v}");
    resp.topics[0]
        .partitions
        .iter()
        .map(|p| {
            let producers = p
                .active_producers
                .iter()
                .map(|s| {
                    (
                        s.producer_id.0,
                        s.producer_epoch,
                        s.last_sequence,
                        s.coordinator_epoch,
                        s.current_txn_start_offset,
                    )
                })
                .collect();
            (p.partition_index, p.error_code, producers)
        })
        .collect()
}

pub(crate) async fn round_trip_describe_producers(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    for v in versions {
        let topic = format!("rt-describe-producers-{v}");
        create_topic(&mut c, &topic, 2, &[]).await;
        let (pid, epoch) = init_producer_id(&mut c, 4).await;
        assert_eq!(produce_ok(&mut c, &topic, batch(&["plain"], now_ms())).await, 0);
        assert_eq!(produce_txn(&mut c, &topic, 0, txn_batch(&["a", "b"], pid, epoch, 0)).await, (NONE, 1));
        let got = describe_producers(&mut c, v, &topic, &[0, 1, 7]).await;
        let e = epoch as i32;
        assert_eq!(
            got,
            vec![
                (0, NONE, vec![(pid, e, 1, -1, 1)]),
                (1, NONE, vec![]),
                (7, E::UnknownTopicOrPartition.code(), vec![]),
            ],
            "v{v}: the open transaction starts at 1"
        );
        assert_eq!(write_marker(&mut c, 1, pid, epoch, true, 4, &topic, &[0]).await, vec![(0, NONE)]);
        let got = describe_producers(&mut c, v, &topic, &[0]).await;
        assert_eq!(got, vec![(0, NONE, vec![(pid, e, 1, 4, -1)])], "v{v}: committed, coordinator epoch 4");
    }
}
